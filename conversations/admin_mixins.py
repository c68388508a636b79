"""Admin building blocks shared by the model admins."""


class ViewOnlyAdminMixin:
    """For records written by the system, never by hand: staff may look, not add or change."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AppendOnlyAdminMixin(ViewOnlyAdminMixin):
    """For history that must not be rewritten (audit, consent): nobody deletes either."""

    def has_delete_permission(self, request, obj=None):
        return False
