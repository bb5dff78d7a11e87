-- The secrets provider behind platform.tenant_secrets, for plain PostgreSQL.
--
-- Values are encrypted with pgcrypto (pgp_sym_encrypt) under one database key
-- and stored in vault.secret_values; platform.tenant_secrets keeps only the
-- opaque id (secret_ref). The key table and the values table are readable by
-- their owner alone: no role, the service included, holds any privilege on
-- them. The service decrypts through vault.read_secret (SECURITY DEFINER),
-- and only SMTA's own definer RPCs store and delete values. Clients never
-- reach this schema. (A deployment with an external KMS replaces this file.)

create table vault.encryption_keys (
  id         smallint primary key default 1 check (id = 1),
  key        text not null default pg_catalog.encode(extensions.gen_random_bytes(32), 'hex'),
  created_at timestamptz not null default now()
);

comment on table vault.encryption_keys is 'The single symmetric key of the vault (owner-only).';

alter table vault.encryption_keys enable row level security;

-- One random key per database, generated at install time.
insert into vault.encryption_keys (id) values (1) on conflict (id) do nothing;

create table vault.secret_values (
  id         uuid primary key default gen_random_uuid(),
  ciphertext bytea not null,
  created_at timestamptz not null default now()
);

comment on table vault.secret_values is 'Encrypted secret values (pgp_sym_encrypt), referenced by platform.tenant_secrets.secret_ref.';

alter table vault.secret_values enable row level security;

-- Owner-only: called from SMTA's SECURITY DEFINER RPCs after they authorized
-- the caller, so it runs with the owner's rights and needs none of its own.
create or replace function vault.store_secret(p_secret text) returns uuid
  language plpgsql
  set search_path = ''
as $$
declare
  v_id uuid;
begin
  if p_secret is null then
    raise exception 'a secret value is required' using errcode = '22004';
  end if;
  insert into vault.secret_values (ciphertext)
  select extensions.pgp_sym_encrypt(p_secret, k.key)
  from vault.encryption_keys k
  where k.id = 1
  returning id into v_id;
  return v_id;
end
$$;

comment on function vault.store_secret(text) is 'Encrypts and stores a secret value; returns its opaque reference.';

create or replace function vault.delete_secret(p_ref uuid) returns boolean
  language plpgsql
  set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from vault.secret_values where id = p_ref;
  get diagnostics v_count = row_count;
  return v_count > 0;
end
$$;

comment on function vault.delete_secret(uuid) is 'Destroys a stored secret value; true when it existed.';

-- The service's only way to a plaintext value: it holds EXECUTE on this
-- function and nothing on the tables, so the key never leaves the database.
create or replace function vault.read_secret(p_ref uuid) returns text
  language sql stable security definer
  set search_path = ''
as $$
  select extensions.pgp_sym_decrypt(v.ciphertext, k.key)
  from vault.secret_values v
  cross join vault.encryption_keys k
  where v.id = p_ref and k.id = 1
$$;

comment on function vault.read_secret(uuid) is 'Service only: decrypts the secret value behind a reference (NULL when unknown).';

-- Removing a tenant_secrets row (delete_secret RPC, or a cascade from its
-- organization or user) must not leave a decryptable orphan behind.
create or replace function vault.on_tenant_secret_deleted() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
begin
  perform vault.delete_secret(old.secret_ref);
  return null;
end
$$;

comment on function vault.on_tenant_secret_deleted() is
  'AFTER DELETE trigger on platform.tenant_secrets: destroys the referenced secret value.';

create trigger tenant_secrets_destroy_value after delete on platform.tenant_secrets
  for each row execute function vault.on_tenant_secret_deleted();
comment on trigger tenant_secrets_destroy_value on platform.tenant_secrets is 'Destroys the vault value of a removed secret.';
