from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from .views import LineViewSet, OrderViewSet, SyncStatusView

router = DefaultRouter()
router.register("orders", OrderViewSet, basename="order")
router.register("lines", LineViewSet, basename="line")

urlpatterns = [
    path("", include(router.urls)),
    path("sync-status/", SyncStatusView.as_view(), name="sync-status"),
    path("schema/", SpectacularAPIView.as_view(), name="scrap_sga-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="scrap_sga-schema"), name="scrap_sga-docs"),
]
