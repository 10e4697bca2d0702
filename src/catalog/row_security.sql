-- The roles, of the connected one and those in $3, that row-level security on the
-- table applies to: neither superuser nor BYPASSRLS, and not its owner (or a member
-- of the owner's role) unless FORCE ROW LEVEL SECURITY applies it to the owner too.
-- owner: the role owns the table (so only FORCE subjects it).
select r.rolname::text as role,
       pg_has_role(r.oid, c.relowner, 'usage') as owner
  from pg_class as c
  join pg_namespace as n on n.oid = c.relnamespace
  join pg_roles as r on r.rolname = current_user or r.rolname = any ($3::text[])
 where n.nspname = $1
   and c.relname = $2
   and c.relrowsecurity
   and not (r.rolsuper or r.rolbypassrls)
   and (c.relforcerowsecurity or not pg_has_role(r.oid, c.relowner, 'usage'))
 order by r.rolname = current_user desc, r.rolname
