"""Django admin of the control plane. Secrets never appear here; revoking a token goes through the service."""

from django.contrib import admin, messages

from tenants import services
from tenants.models import AccessEvent, ApiToken, AuditEntry, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "active", "shards", "max_queued_tasks", "created")
    list_filter = ("active",)
    search_fields = ("slug", "name")
    readonly_fields = ("created",)
    inlines = (MembershipInline,)

    def get_readonly_fields(self, request, obj=None):
        # The slug and the shard count are baked into the tenant's KV keys once it exists.
        if obj is not None:
            return [*self.readonly_fields, "slug", "shards"]
        return self.readonly_fields


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created")
    list_filter = ("role",)
    search_fields = ("user__username", "tenant__slug")
    autocomplete_fields = ("user", "tenant")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "role", "created", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("role", "tenant")
    search_fields = ("name", "jti", "tenant__slug")
    readonly_fields = ("jti", "created", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        # A bearer is shown only once, when issued; issue tokens with `manage.py codeq_token issue`.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            services.revoke_token(token_id=token.pk, actor=request.user.get_username())
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created", "tenant", "actor", "action", "target")
    list_filter = ("action", "tenant")
    search_fields = ("actor", "action", "target")
    date_hierarchy = "created"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ("created", "username", "kind", "ip_address", "actor")
    list_filter = ("kind",)
    search_fields = ("username", "ip_address", "user_agent", "actor")
    date_hierarchy = "created"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
