"""OGC API – Features (Part 1, Core) for geowarn's collections.

``providers`` holds the collection interface and the default collections,
``documents`` the JSON documents, ``params`` the query parameters and
``errors`` the OGC exception bodies; ``api.routes.ogc`` wires them.
"""
