-- RPCs: invitations.
--
-- Any member invites (never to the super_admin role); the super admin and the
-- inviter cancel and resend; the invitee accepts with the token, and only if
-- the invitation is addressed to their profile email. Acceptance itself
-- (membership creation) happens in core.on_invitation_accepted, so it is the
-- same whether it comes from this RPC or a direct update.
-- get_invitation_details is the one read open to anonymous callers: a
-- sign-up page shows who invites whom before the invitee has an account.

create or replace function public.create_invitation(
  p_email text, p_organization_id uuid, p_role_id uuid default null, p_unit_id uuid default null,
  p_metadata jsonb default null)
returns table (id uuid, token text, expires_at timestamptz)
  language plpgsql security definer
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_uid  uuid := utils.require_user_id();
  v_role uuid := p_role_id;
  v_row  record;
begin
  if not core.is_org_member(p_organization_id) then
    raise exception 'only members of the organization can invite' using errcode = '42501';
  end if;
  if v_role is null then
    select r.id into v_role from core.roles r where r.organization_id is null and r.name = 'team';
  end if;
  if not core.is_assignable_role(v_role, p_organization_id) then
    raise exception 'this role cannot be offered in an invitation' using errcode = '42501';
  end if;
  if p_unit_id is not null and core.get_org_id_for_unit(p_unit_id) is distinct from p_organization_id then
    raise exception 'the unit must belong to the organization' using errcode = '42501';
  end if;
  if p_email is null or btrim(p_email) !~ '^[^@[:space:]]+@[^@[:space:]]+$' then
    raise exception 'a valid email address is required' using errcode = '22023';
  end if;

  insert into core.invitations (email, organization_id, unit_id, role_id, invited_by, metadata, created_by)
  values (btrim(p_email), p_organization_id, p_unit_id, v_role, v_uid, coalesce(p_metadata, '{}'::jsonb), v_uid)
  returning core.invitations.id, core.invitations.token, core.invitations.expires_at into v_row;

  perform utils.record_audit(p_organization_id, 'invitations', v_row.id, 'create', 'invitation created',
    jsonb_build_object('email', btrim(p_email), 'role_id', v_role, 'unit_id', p_unit_id));

  return query select v_row.id, v_row.token, v_row.expires_at;
end
$$;
comment on function public.create_invitation(text, uuid, uuid, uuid, jsonb) is
  'Member: invites an email to the organization (optional unit; role default global team, never super_admin); returns id, token, expires_at.';

create or replace function public.accept_invitation(p_token text)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid   uuid := utils.require_user_id();
  v_email text := core.current_user_email();
  v_inv   record;
begin
  select i.id, i.organization_id into v_inv
  from core.invitations i
  join core.organizations o on o.id = i.organization_id
  where i.token = p_token
    and not i.is_deleted
    and not o.is_deleted
    and i.status = 'pending'
    and i.expires_at > now()
    and lower(i.email) = lower(v_email);
  if not found then
    raise exception 'no pending invitation for this token and the current user''s email' using errcode = '42501';
  end if;

  -- The AFTER UPDATE trigger creates or revives the membership(s).
  update core.invitations i
  set status = 'accepted', accepted_by = v_uid, accepted_at = now()
  where i.id = v_inv.id;

  perform utils.record_audit(v_inv.organization_id, 'invitations', v_inv.id, 'accept', 'invitation accepted',
    jsonb_build_object('user_id', v_uid));
  return v_inv.organization_id;
end
$$;
comment on function public.accept_invitation(text) is
  'Invitee: accepts a pending, unexpired invitation addressed to their email; joins the organization (and unit). Returns the organization id.';

create or replace function public.cancel_invitation(p_invitation_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_inv record;
begin
  select i.id, i.organization_id, i.status into v_inv
  from core.invitations i
  join core.organizations o on o.id = i.organization_id
  where i.id = p_invitation_id and not i.is_deleted and not o.is_deleted
    and (core.is_super_admin(i.organization_id)
         or (i.invited_by = v_uid and core.is_org_member(i.organization_id)));
  if not found then
    raise exception 'only the super admin or the inviter can cancel this invitation' using errcode = '42501';
  end if;
  if v_inv.status <> 'pending' then
    raise exception 'only a pending invitation can be cancelled (status is %)', v_inv.status using errcode = '22023';
  end if;

  update core.invitations i set status = 'cancelled' where i.id = v_inv.id;

  perform utils.record_audit(v_inv.organization_id, 'invitations', v_inv.id, 'cancel', 'invitation cancelled', '{}'::jsonb);
  return v_inv.id;
end
$$;
comment on function public.cancel_invitation(uuid) is 'Super admin or inviter: cancels a pending invitation; returns its id.';

create or replace function public.resend_invitation(p_invitation_id uuid)
returns table (id uuid, token text, expires_at timestamptz)
  language plpgsql security definer
  set search_path = ''
as $$
#variable_conflict use_column
declare
  v_uid uuid := utils.require_user_id();
  v_inv record;
  v_row record;
begin
  select i.id, i.organization_id, i.status into v_inv
  from core.invitations i
  join core.organizations o on o.id = i.organization_id
  where i.id = p_invitation_id and not i.is_deleted and not o.is_deleted
    and (core.is_super_admin(i.organization_id)
         or (i.invited_by = v_uid and core.is_org_member(i.organization_id)));
  if not found then
    raise exception 'only the super admin or the inviter can resend this invitation' using errcode = '42501';
  end if;
  if v_inv.status not in ('pending', 'expired') then
    raise exception 'only a pending or expired invitation can be resent (status is %)', v_inv.status using errcode = '22023';
  end if;

  -- A resend invalidates the old token and restarts the 7-day window.
  update core.invitations i
  set token = encode(extensions.gen_random_bytes(32), 'hex'),
      expires_at = now() + interval '7 days',
      status = 'pending'
  where i.id = v_inv.id
  returning i.id, i.token, i.expires_at into v_row;

  perform utils.record_audit(v_inv.organization_id, 'invitations', v_inv.id, 'resend', 'invitation resent', '{}'::jsonb);

  return query select v_row.id, v_row.token, v_row.expires_at;
end
$$;
comment on function public.resend_invitation(uuid) is
  'Super admin or inviter: renews a pending or expired invitation (new token, 7 more days); returns id, token, expires_at.';

create or replace function public.list_invitations(p_organization_id uuid, p_status text default null)
returns table (
  id              uuid,
  email           text,
  organization_id uuid,
  unit_id         uuid,
  role_id         uuid,
  invited_by      uuid,
  status          text,
  expires_at      timestamptz,
  accepted_at     timestamptz,
  accepted_by     uuid,
  created_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select i.id, i.email, i.organization_id, i.unit_id, i.role_id, i.invited_by, i.status,
         i.expires_at, i.accepted_at, i.accepted_by, i.created_at
  from core.invitations i
  where i.organization_id = p_organization_id
    and not i.is_deleted
    and (p_status is null or i.status = p_status)
  order by i.created_at desc, i.id
$$;
comment on function public.list_invitations(uuid, text) is
  'Invitations of an organization the caller may read (super admin: all; inviter: own; invitee: theirs), optionally by status; no tokens.';

create or replace function public.get_invitation_details(p_token text)
returns table (
  id                uuid,
  organization_name text,
  role_name         text,
  email             text,
  status            text,
  expires_at        timestamptz
)
  language sql stable security definer
  set search_path = ''
as $$
  -- Knowing the token is the authorization; nothing else is exposed.
  select i.id, o.name, r.name, i.email, i.status, i.expires_at
  from core.invitations i
  join core.organizations o on o.id = i.organization_id
  left join core.roles r on r.id = i.role_id
  where p_token is not null
    and i.token = p_token
    and not i.is_deleted
    and not o.is_deleted
$$;
comment on function public.get_invitation_details(text) is
  'Anyone holding a token: organization name, role name, email, status and expiry of that one invitation; nothing for an unknown token.';
