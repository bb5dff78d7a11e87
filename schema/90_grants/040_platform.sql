-- Grants, platform layer: the service only. app_user, anon and PUBLIC hold
-- nothing here (and RLS without an app_user policy would deny them anyway).

revoke all on all tables in schema platform from public, app_user;

grant all on all tables in schema platform to app_admin;
