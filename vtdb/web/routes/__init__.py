"""The web app's routes, one module per concern: the search (search), a video and its moments (videos), the
bytes a page loads (files), the pipeline's status and its actions (status), and the API's own pages (api).
Each module has a `router`; vtdb.web.app includes them in ROUTERS' order."""
