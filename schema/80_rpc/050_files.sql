-- RPCs: organization files.
--
-- Files are shared content: any member of the organization creates, edits
-- and deletes them (soft delete). A deleted file stops being the logo.

create or replace function public.create_file(
  p_org_id uuid, p_file_url text, p_file_type text, p_file_size integer default null, p_file_specs jsonb default null)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_id  uuid;
begin
  if not core.is_org_member(p_org_id) then
    raise exception 'only members of the organization can add files' using errcode = '42501';
  end if;
  if p_file_url is null or btrim(p_file_url) = '' or p_file_type is null or btrim(p_file_type) = '' then
    raise exception 'file_url and file_type are required' using errcode = '22023';
  end if;

  insert into core.organization_files (organization_id, file_url, file_type, file_size, file_specs, created_by)
  values (p_org_id, p_file_url, p_file_type, p_file_size, coalesce(p_file_specs, '{}'::jsonb), v_uid)
  returning id into v_id;

  perform utils.record_audit(p_org_id, 'organization_files', v_id, 'create', 'file added',
    jsonb_build_object('file_url', p_file_url, 'file_type', p_file_type, 'file_size', p_file_size));
  return v_id;
end
$$;
comment on function public.create_file(uuid, text, text, integer, jsonb) is
  'Member: records a file of the organization; returns its id.';

create or replace function public.update_file_metadata(p_file_id uuid, p_file_specs jsonb, p_file_size integer)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_org uuid;
begin
  select f.organization_id into v_org
  from core.organization_files f
  where f.id = p_file_id and not f.is_deleted;
  if v_org is null or not core.is_org_member(v_org) then
    raise exception 'only members of the file''s organization can update it' using errcode = '42501';
  end if;

  update core.organization_files f
  set file_specs = coalesce(p_file_specs, f.file_specs),
      file_size  = coalesce(p_file_size, f.file_size)
  where f.id = p_file_id;

  perform utils.record_audit(v_org, 'organization_files', p_file_id, 'update', 'file metadata updated',
    jsonb_build_object('file_specs', p_file_specs, 'file_size', p_file_size));
  return p_file_id;
end
$$;
comment on function public.update_file_metadata(uuid, jsonb, integer) is
  'Member: updates a file''s specs and size (NULL keeps a field); returns its id.';

create or replace function public.get_file(p_file_id uuid)
returns table (
  id              uuid,
  organization_id uuid,
  file_url        text,
  file_type       text,
  file_size       integer,
  file_specs      jsonb,
  created_by      uuid,
  created_at      timestamptz,
  updated_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select f.id, f.organization_id, f.file_url, f.file_type, f.file_size, f.file_specs, f.created_by, f.created_at, f.updated_at
  from core.organization_files f
  where f.id = p_file_id and not f.is_deleted
$$;
comment on function public.get_file(uuid) is 'One file, if the caller may read it (zero or one row).';

create or replace function public.list_files(p_org_id uuid)
returns table (
  id              uuid,
  organization_id uuid,
  file_url        text,
  file_type       text,
  file_size       integer,
  file_specs      jsonb,
  created_by      uuid,
  created_at      timestamptz,
  updated_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select f.id, f.organization_id, f.file_url, f.file_type, f.file_size, f.file_specs, f.created_by, f.created_at, f.updated_at
  from core.organization_files f
  where f.organization_id = p_org_id and not f.is_deleted
  order by f.created_at desc, f.id
$$;
comment on function public.list_files(uuid) is 'Live files of an organization the caller belongs to, newest first.';

create or replace function public.delete_file(p_file_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_org uuid;
begin
  select f.organization_id into v_org
  from core.organization_files f
  where f.id = p_file_id and not f.is_deleted;
  if v_org is null or not core.is_org_member(v_org) then
    raise exception 'only members of the file''s organization can delete it' using errcode = '42501';
  end if;

  perform utils.soft_delete('core.organization_files', p_file_id);
  update core.organizations_meta om set logo_file_id = null where om.id = v_org and om.logo_file_id = p_file_id;

  perform utils.record_audit(v_org, 'organization_files', p_file_id, 'delete', 'file deleted', '{}'::jsonb);
  return p_file_id;
end
$$;
comment on function public.delete_file(uuid) is 'Member: soft-deletes a file of the organization; returns its id.';
