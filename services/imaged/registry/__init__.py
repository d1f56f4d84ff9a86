"""imaged's registry client (Registry HTTP API v2) and the pull/push built on it.

Modules, each with one job:

- :mod:`.models`     frozen values the client and the gateway exchange
- :mod:`.settings`   the daemon.json keys that steer registry traffic
- :mod:`.endpoints`  which URLs serve a repository (mirrors, insecure fallback)
- :mod:`.errors`     registry error bodies turned into dockerd's messages
- :mod:`.auth`       Basic and Bearer-token challenges
- :mod:`.api`        HTTP calls on one repository of one endpoint
- :mod:`.manifests`  manifests, indexes and platform selection
- :mod:`.progress`   the progress events of a pull or push
- :mod:`.download`   one blob into the content store, verified, resumed on retry
- :mod:`.metadata`   which registry blobs hold each layer (for push and GC)
- :mod:`.pull`, :mod:`.push`, :mod:`.login`, :mod:`.inspect`, :mod:`.search`: the operations
- :mod:`.search_filters` what a search accepts (filters, limit, term), pure
- :mod:`.servicer`   the gRPC ``Distribution`` service; :mod:`.client` its typed client
"""
