-- Grants, vault layer: nobody reads the key or the ciphertexts; the service
-- may decrypt a value by reference. store/delete stay owner-only (used by
-- SMTA's definer RPCs and the tenant_secrets trigger).

revoke all on all tables in schema vault from public, app_user, app_admin;

grant execute on function vault.read_secret(uuid) to app_admin;
