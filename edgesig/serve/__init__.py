"""`edgesig serve`: the local tablet and kiosk web app (optional extra ``serve``).

Three pages talk to the SDK on the same device, never to anything else: ``/pen`` (a
signing pad in the browser: Pointer Events with pressure and tilt, enrol and verify),
``/kiosk`` (a camera snapshot or an uploaded photo of a signed form, the detected
sheet and signature drawn over it, the decision and its heatmap) and ``/admin``
(users, audit log, installed models). ``config`` needs no web stack; ``app`` needs
Starlette and uvicorn (``pip install 'edgesig[serve]'``).
"""
