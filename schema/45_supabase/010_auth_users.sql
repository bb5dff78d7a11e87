-- Supabase: link auth.users to core.users_meta (loaded by supabase.order only,
-- after the core tables).
--
-- Every Supabase account gets its profile row automatically, and removing the
-- account removes the profile (and, by cascade, its memberships). The email is
-- kept in sync because invitations are matched against users_meta.email and
-- clients may not edit that column themselves.

alter table core.users_meta
  add constraint users_meta_id_auth_users_fkey foreign key (id) references auth.users (id) on delete cascade;
comment on constraint users_meta_id_auth_users_fkey on core.users_meta is 'Each profile belongs to one Supabase account.';

create or replace function core.sync_users_meta_from_auth() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into core.users_meta (id, email, first_name, last_name, created_by)
    values (new.id, new.email,
            new.raw_user_meta_data ->> 'first_name',
            new.raw_user_meta_data ->> 'last_name',
            new.id)
    on conflict (id) do update set email = excluded.email;
  elsif new.email is distinct from old.email then
    update core.users_meta set email = new.email where id = new.id;
  end if;
  return null;
end
$$;

comment on function core.sync_users_meta_from_auth() is
  'AFTER INSERT/UPDATE trigger on auth.users: creates the core.users_meta profile and keeps its email in sync.';

create or replace trigger smta_sync_users_meta after insert or update of email on auth.users
  for each row execute function core.sync_users_meta_from_auth();
comment on trigger smta_sync_users_meta on auth.users is 'SMTA: mirrors each account into core.users_meta.';
