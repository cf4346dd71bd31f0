"""API permissions: Django's model permissions, reads included.

DRF's DjangoModelPermissions lets any authenticated user read; a CRM holds personal data,
so reading needs the model's `view` permission too. An authenticated user without the
permission gets 403; a request with no valid token gets 401.
"""

from rest_framework.permissions import DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
