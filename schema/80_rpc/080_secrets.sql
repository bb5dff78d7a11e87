-- RPCs: tenant secrets (API keys and the like) of an organization or a user.
--
-- SECURITY DEFINER throughout: clients reach neither platform.tenant_secrets
-- nor the vault. An organization's secrets are managed by its super admin; a
-- user's by that user. Values go in once and never come back out through any
-- client function; the service reads them with vault.read_secret. Deleting a
-- secret removes the row and destroys the value (no soft delete: a "deleted"
-- secret must not stay decryptable).

create or replace function utils.authorize_secret_owner(p_scope text, p_id uuid) returns void
  language plpgsql stable
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
begin
  if p_scope = 'organization' then
    if not core.is_super_admin(p_id) then
      raise exception 'only the super admin of the organization can manage its secrets' using errcode = '42501';
    end if;
  elsif p_scope = 'user' then
    if p_id is distinct from v_uid then
      raise exception 'users manage only their own secrets' using errcode = '42501';
    end if;
  else
    raise exception 'scope must be ''organization'' or ''user''' using errcode = '22023';
  end if;
end
$$;
comment on function utils.authorize_secret_owner(text, uuid) is
  'Raises 42501 unless the current user may manage the secrets of (scope, id); 22023 for an unknown scope.';

create or replace function public.create_secret(p_scope text, p_id uuid, p_name text, p_secret text)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_ref uuid;
  v_id  uuid;
begin
  perform utils.authorize_secret_owner(p_scope, p_id);
  if p_name is null or btrim(p_name) = '' or p_secret is null then
    raise exception 'a secret name and value are required' using errcode = '22023';
  end if;

  v_ref := vault.store_secret(p_secret);
  insert into platform.tenant_secrets (scope, organization_id, user_id, secret_name, secret_ref, created_by)
  values (p_scope,
          case when p_scope = 'organization' then p_id end,
          case when p_scope = 'user' then p_id end,
          p_name, v_ref, v_uid)
  returning id into v_id;

  -- User secrets belong to no organization: organization_id is NULL then.
  perform utils.record_audit(case when p_scope = 'organization' then p_id end,
    'tenant_secrets', v_id, 'create', 'secret created',
    jsonb_build_object('scope', p_scope, 'secret_name', p_name));
  return v_id;
end
$$;
comment on function public.create_secret(text, uuid, text, text) is
  'Stores a secret for an organization (its super admin) or for the caller (scope ''user'', p_id = caller); returns the secret id.';

create or replace function public.delete_secret(p_secret_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_sec record;
begin
  select s.id, s.scope, coalesce(s.organization_id, s.user_id) as owner_id, s.organization_id, s.secret_name
  into v_sec
  from platform.tenant_secrets s
  where s.id = p_secret_id;
  if not found then
    raise exception 'no such secret for the current user' using errcode = '42501';
  end if;
  perform utils.authorize_secret_owner(v_sec.scope, v_sec.owner_id);

  -- The vault value is destroyed by the tenant_secrets delete trigger.
  delete from platform.tenant_secrets s where s.id = v_sec.id;

  perform utils.record_audit(v_sec.organization_id, 'tenant_secrets', v_sec.id, 'delete', 'secret deleted',
    jsonb_build_object('scope', v_sec.scope, 'secret_name', v_sec.secret_name));
  return v_sec.id;
end
$$;
comment on function public.delete_secret(uuid) is
  'Deletes a secret and destroys its value (organization: its super admin; user: that user); returns the secret id.';

create or replace function public.list_secrets(p_scope text, p_id uuid)
returns table (
  id              uuid,
  scope           text,
  organization_id uuid,
  user_id         uuid,
  secret_name     text,
  created_at      timestamptz,
  updated_at      timestamptz
)
  language plpgsql stable security definer
  set search_path = ''
as $$
begin
  perform utils.authorize_secret_owner(p_scope, p_id);
  return query
    select s.id, s.scope, s.organization_id, s.user_id, s.secret_name, s.created_at, s.updated_at
    from platform.tenant_secrets s
    where s.scope = p_scope
      and ((p_scope = 'organization' and s.organization_id = p_id)
           or (p_scope = 'user' and s.user_id = p_id))
    order by s.secret_name;
end
$$;
comment on function public.list_secrets(text, uuid) is
  'Metadata (never values) of the secrets of an organization (its super admin) or of the caller (scope ''user'').';
