-- RPCs: the caller's own profile.
--
-- Reads are SECURITY INVOKER and rely on RLS (a caller can never read more
-- than the policies allow). Writes are SECURITY DEFINER so that they can
-- write the audit row; they authorize the caller first, in the body.
-- Convention for every update RPC: a NULL argument leaves the field as is.

create or replace function public.get_user_profile()
returns table (
  id         uuid,
  email      text,
  first_name text,
  last_name  text,
  avatar_url text,
  timezone   text,
  locale     text,
  created_at timestamptz,
  updated_at timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select u.id, u.email, u.first_name, u.last_name, u.avatar_url, u.timezone, u.locale, u.created_at, u.updated_at
  from core.users_meta u
  where u.id = core.get_current_user_id() and not u.is_deleted
$$;
comment on function public.get_user_profile() is 'The caller''s own profile (zero or one row).';

create or replace function public.update_user_profile(p_first_name text, p_last_name text)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
begin
  update core.users_meta u
  set first_name = coalesce(p_first_name, u.first_name),
      last_name  = coalesce(p_last_name, u.last_name)
  where u.id = v_uid and not u.is_deleted;
  if not found then
    raise exception 'no profile for the current user' using errcode = '42501';
  end if;

  -- A profile belongs to no organization: organization_id is NULL here.
  perform utils.record_audit(null, 'users_meta', v_uid, 'update', 'profile updated',
    jsonb_build_object('first_name', p_first_name, 'last_name', p_last_name));
  return v_uid;
end
$$;
comment on function public.update_user_profile(text, text) is
  'Updates the caller''s first and last name (NULL keeps a field); returns the user id.';
