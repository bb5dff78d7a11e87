-- Soft deletion helpers.
--
-- SMTA never hard-deletes tenant rows from client paths: an RPC marks the row
-- is_deleted and every policy then hides it (and, by the tenant path, what
-- hangs below it). These helpers are SECURITY INVOKER and executable by no
-- client role: they are called from SMTA's SECURITY DEFINER RPCs after those
-- have authorized the caller, and run with the RPC owner's rights.

create or replace function utils.soft_delete(p_table regclass, p_id uuid) returns boolean
  language plpgsql
  set search_path = ''
as $$
declare
  v_count integer;
begin
  -- regclass renders schema-qualified and quoted under the empty search_path,
  -- so %s is safe here.
  execute pg_catalog.format(
    'update %s set is_deleted = true, deleted_at = pg_catalog.now(), deleted_by = core.get_current_user_id() '
    'where id = $1 and not is_deleted',
    p_table)
  using p_id;
  get diagnostics v_count = row_count;
  return v_count > 0;
end
$$;

comment on function utils.soft_delete(regclass, uuid) is
  'Marks one live row of a std table deleted (is_deleted, deleted_at, deleted_by = current user); true when a row changed.';

create or replace function utils.restore_soft_deleted(p_table regclass, p_id uuid) returns boolean
  language plpgsql
  set search_path = ''
as $$
declare
  v_count integer;
begin
  execute pg_catalog.format(
    'update %s set is_deleted = false, deleted_at = null, deleted_by = null where id = $1 and is_deleted',
    p_table)
  using p_id;
  get diagnostics v_count = row_count;
  return v_count > 0;
end
$$;

comment on function utils.restore_soft_deleted(regclass, uuid) is
  'Revives one soft-deleted row of a std table (clears is_deleted, deleted_at, deleted_by); true when a row changed.';

create or replace function utils.require_user_id() returns uuid
  language plpgsql stable
  set search_path = ''
as $$
declare
  v_uid uuid := core.get_current_user_id();
begin
  if v_uid is null then
    raise exception 'not authenticated: this operation needs a user identity'
      using errcode = '42501';
  end if;
  return v_uid;
end
$$;

comment on function utils.require_user_id() is
  'Returns the current user id or raises 42501 when the request carries no identity.';
