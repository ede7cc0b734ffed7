"""One endpoint per mirrored model (its path segment: derive.endpoint), the sync status, the
OpenAPI schema and its Swagger UI. A model the DBA adds gets its endpoint once its model is
generated: nothing to write here."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import derive
from .views import SyncStatusView, viewset_for


def build_router():
    router = DefaultRouter()
    for model in derive.mirror_models():
        prefix = derive.endpoint(model)
        router.register(prefix, viewset_for(model), basename=prefix)
    return router


router = build_router()

urlpatterns = [
    path("", include(router.urls)),
    path("sync-status/", SyncStatusView.as_view(), name="sync-status"),
    path("schema/", SpectacularAPIView.as_view(), name="scrap_sga-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="scrap_sga-schema"), name="scrap_sga-docs"),
]
