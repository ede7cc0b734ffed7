from django.urls import include, path
from rest_framework.routers import DefaultRouter

from .views import LineViewSet, OrderViewSet, SyncStatusView

router = DefaultRouter()
router.register("orders", OrderViewSet, basename="order")
router.register("lines", LineViewSet, basename="line")

urlpatterns = [
    path("", include(router.urls)),
    path("sync-status/", SyncStatusView.as_view(), name="sync-status"),
]
