"""The livechat operator: reconciles ``TwitchChannel`` resources into ingest Deployments.

It runs under kopf (``kopf run --standalone --namespace <ns> -m livechat_operator.handlers``) in
its own Deployment. It is plain asyncio plus the official Kubernetes client in kopf's thread
pool, and never imports the chat server (``app``) or gevent, whose monkey-patching would break
kopf's event loop. The pure parts (settings, rendering, status) have no I/O and are unit-tested.
"""
