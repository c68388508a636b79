from rest_framework.routers import DefaultRouter

from .views import DltTemplateViewSet, OptOutViewSet

router = DefaultRouter()
# Every path works with and without a trailing slash, with no redirect.
router.trailing_slash = "/?"
router.register("templates", DltTemplateViewSet, basename="template")
router.register("optouts", OptOutViewSet, basename="optout")

urlpatterns = router.urls
