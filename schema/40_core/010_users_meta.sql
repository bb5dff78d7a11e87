-- core.users_meta: the application profile of each user.
--
-- One row per identity-provider user, keyed by that user's id, so every
-- user-referencing column of core can point here. The supabase flavour fills
-- it from auth.users (45_supabase/); the payload flavour's backend inserts it.
-- Clients never insert: a profile exists because an account does. email is
-- what invitations are matched against, so clients cannot change it either.

create table core.users_meta (
  id          uuid primary key,
  first_name  text,
  last_name   text,
  email       text,
  avatar_url  text,
  timezone    text,
  locale      text,
  created_by  uuid,
  updated_by  uuid,
  is_deleted  boolean not null default false,
  deleted_at  timestamptz,
  deleted_by  uuid,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

comment on table core.users_meta is
  'Profile of each user (id = the identity provider''s user id); readable by the user and by users sharing an organization.';

-- Invitations are matched on lower(email).
create index users_meta_email_lower_idx on core.users_meta (lower(email));
comment on index core.users_meta_email_lower_idx is 'Case-insensitive email lookup (invitation matching).';

create trigger users_meta_set_created_by before insert on core.users_meta
  for each row execute function utils.set_created_by();
comment on trigger users_meta_set_created_by on core.users_meta is 'Stamps created_by.';

create trigger users_meta_set_updated_at before update on core.users_meta
  for each row execute function utils.set_updated_at();
comment on trigger users_meta_set_updated_at on core.users_meta is 'Stamps updated_at and updated_by.';

alter table core.users_meta enable row level security;
