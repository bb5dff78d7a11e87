-- core.invitations: an offer to join an organization (and optionally one of
-- its units) with a role, addressed to an email and redeemed with a token.
--
-- Three triggers make the lifecycle hold for every writer that is subject to
-- RLS, not only for the RPCs:
--   * before insert (SECURITY DEFINER): the token is always random, generated
--     here, because clients have no EXECUTE on pgcrypto;
--   * before update: the invitee (matched by email) may only accept, as
--     themselves, a pending unexpired invitation and change nothing else;
--     managers (super admin, inviter) may not accept on someone's behalf nor
--     touch an accepted invitation;
--   * after update to 'accepted' (SECURITY DEFINER): the acceptor's membership
--     (and unit membership) is created or revived, whoever did the update.

create table core.invitations (
  id              uuid primary key default gen_random_uuid(),
  email           text not null,
  organization_id uuid not null references core.organizations (id) on delete cascade,
  unit_id         uuid references core.units (id) on delete cascade,
  role_id         uuid references core.roles (id) on delete set null,
  invited_by      uuid not null,
  token           text not null,
  expires_at      timestamptz not null default (now() + interval '7 days'),
  status          text not null default 'pending',
  accepted_at     timestamptz,
  accepted_by     uuid,
  metadata        jsonb not null default '{}'::jsonb,
  created_by      uuid,
  updated_by      uuid,
  is_deleted      boolean not null default false,
  deleted_at      timestamptz,
  deleted_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint invitations_token_key unique (token),
  constraint invitations_status_check check (status in ('pending', 'accepted', 'expired', 'cancelled'))
);

comment on table core.invitations is
  'Invitations to join an organization (optionally a unit) with a role; redeemed by token by the addressed email.';
comment on constraint invitations_token_key on core.invitations is 'Tokens identify one invitation.';
comment on constraint invitations_status_check on core.invitations is 'Lifecycle: pending, accepted, expired, cancelled.';

create index invitations_organization_id_idx on core.invitations (organization_id);
comment on index core.invitations_organization_id_idx is 'Tenant key / foreign key lookup.';
create index invitations_unit_id_idx on core.invitations (unit_id);
comment on index core.invitations_unit_id_idx is 'Foreign key lookup.';
create index invitations_role_id_idx on core.invitations (role_id);
comment on index core.invitations_role_id_idx is 'Foreign key lookup.';
create index invitations_invited_by_idx on core.invitations (invited_by);
comment on index core.invitations_invited_by_idx is 'Inviter lookup (inviter policies).';
create index invitations_email_lower_idx on core.invitations (lower(email));
comment on index core.invitations_email_lower_idx is 'Invitee lookup by case-insensitive email.';

create trigger invitations_set_created_by before insert on core.invitations
  for each row execute function utils.set_created_by();
comment on trigger invitations_set_created_by on core.invitations is 'Stamps created_by.';

create trigger invitations_set_updated_at before update on core.invitations
  for each row execute function utils.set_updated_at();
comment on trigger invitations_set_updated_at on core.invitations is 'Stamps updated_at and updated_by.';

create or replace function core.prepare_invitation() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
begin
  if new.token is null then
    new.token := pg_catalog.encode(extensions.gen_random_bytes(32), 'hex');
  end if;
  new.expires_at := coalesce(new.expires_at, pg_catalog.now() + interval '7 days');
  return new;
end
$$;

comment on function core.prepare_invitation() is
  'BEFORE INSERT trigger on invitations: generates a random 64-hex-digit token and the default expiry.';

create trigger invitations_prepare before insert on core.invitations
  for each row execute function core.prepare_invitation();
comment on trigger invitations_prepare on core.invitations is 'Generates the token of a new invitation.';

create or replace function core.guard_invitation_update() returns trigger
  language plpgsql
  set search_path = ''
as $$
declare
  v_uid     uuid;
  v_manager boolean;
begin
  -- Only writers subject to RLS (clients) are restricted here; the service
  -- and SMTA's definer functions (which check the caller themselves) are not.
  if not pg_catalog.row_security_active(tg_relid) then
    return new;
  end if;

  v_uid := core.get_current_user_id();
  v_manager := coalesce(core.is_super_admin(old.organization_id)
                        or (old.invited_by = v_uid and core.is_org_member(old.organization_id)), false);

  if new.status = 'accepted' and old.status is distinct from 'accepted' then
    if v_uid is null
       or old.status <> 'pending'
       or old.expires_at <= pg_catalog.now()
       or pg_catalog.lower(old.email) is distinct from pg_catalog.lower(core.current_user_email())
       or new.accepted_by is distinct from v_uid then
      raise exception 'only the invitee can accept a pending, unexpired invitation, and only as themselves'
        using errcode = '42501';
    end if;
    if (new.role_id, new.unit_id, new.email, new.expires_at, new.metadata)
       is distinct from (old.role_id, old.unit_id, old.email, old.expires_at, old.metadata) then
      raise exception 'accepting an invitation cannot change its other fields'
        using errcode = '42501';
    end if;
    new.accepted_at := pg_catalog.now();
    return new;
  end if;

  if not v_manager then
    raise exception 'the invitee may only accept the invitation'
      using errcode = '42501';
  end if;
  if old.status = 'accepted' then
    raise exception 'an accepted invitation cannot be changed'
      using errcode = '42501';
  end if;
  if new.accepted_by is distinct from old.accepted_by or new.accepted_at is distinct from old.accepted_at then
    raise exception 'accepted_by and accepted_at are set by acceptance only'
      using errcode = '42501';
  end if;
  return new;
end
$$;

comment on function core.guard_invitation_update() is
  'BEFORE UPDATE trigger on invitations: the invitee may only accept; managers may not accept for others or edit accepted invitations.';

create trigger invitations_guard_update before update on core.invitations
  for each row execute function core.guard_invitation_update();
comment on trigger invitations_guard_update on core.invitations is 'Restricts what clients may change in an invitation.';

create or replace function core.on_invitation_accepted() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_role     uuid := new.role_id;
  v_existing record;
begin
  if new.accepted_by is null then
    return null;
  end if;

  -- An invitation never makes anyone super admin.
  if exists (select 1 from core.roles r where r.id = v_role and r.organization_id is null and r.name = 'super_admin') then
    select r.id into v_role from core.roles r where r.organization_id is null and r.name = 'team';
  end if;

  select m.id, m.is_deleted into v_existing
  from core.memberships m
  where m.user_id = new.accepted_by and m.organization_id = new.organization_id;

  if not found then
    insert into core.memberships (user_id, organization_id, role_id, created_by)
    values (new.accepted_by, new.organization_id, v_role, new.accepted_by);
  elsif v_existing.is_deleted then
    update core.memberships
    set is_deleted = false, deleted_at = null, deleted_by = null, is_super_admin = false, role_id = v_role
    where id = v_existing.id;
  end if;

  if new.unit_id is not null and exists (
    select 1 from core.units u where u.id = new.unit_id and not u.is_deleted and u.organization_id = new.organization_id)
  then
    select um.id, um.is_deleted into v_existing
    from core.unit_memberships um
    where um.user_id = new.accepted_by and um.unit_id = new.unit_id;

    if not found then
      insert into core.unit_memberships (user_id, unit_id, role_id, created_by)
      values (new.accepted_by, new.unit_id, v_role, new.accepted_by);
    elsif v_existing.is_deleted then
      update core.unit_memberships
      set is_deleted = false, deleted_at = null, deleted_by = null, role_id = v_role
      where id = v_existing.id;
    end if;
  end if;

  return null;
end
$$;

comment on function core.on_invitation_accepted() is
  'AFTER UPDATE trigger on invitations: on acceptance, creates or revives the acceptor''s membership (and unit membership).';

create trigger invitations_on_accepted after update on core.invitations
  for each row
  when (new.status = 'accepted' and old.status is distinct from 'accepted')
  execute function core.on_invitation_accepted();
comment on trigger invitations_on_accepted on core.invitations is 'Grants the membership an accepted invitation promises.';

alter table core.invitations enable row level security;
