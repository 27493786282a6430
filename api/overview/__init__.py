"""The root page (`GET /`): the latest published day at a glance, as server-rendered HTML.

No JavaScript, no CDN, no template engine: the charts are inline SVG drawn in Python, so the page
works offline and adds no dependency to the API image. Its numbers come from the same Service
methods as /stats/ and /history/; only the charts' series over several days have their own SQL
(`api.overview.queries`).
"""
