-- pgcrypto, in the extensions schema.
--
-- Used for random invitation tokens (gen_random_bytes) and for encrypting
-- secret values in the vault (pgp_sym_encrypt). gen_random_uuid() is core
-- PostgreSQL since 13 and needs no extension.

create extension if not exists pgcrypto with schema extensions;
