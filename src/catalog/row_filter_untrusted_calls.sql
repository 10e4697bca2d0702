-- The functions a row filter calls, directly or through an operator, that belong to
-- a role other than the current one and are not a superuser's: the capture function
-- runs the filter as the current role, so their owners could run code as it.
-- $1: the scratch table whose check constraint $2 holds the filter.
select distinct p.oid::regprocedure::text as function, r.rolname::text as owner,
       current_user::text as runner
  from pg_constraint c
  join pg_depend d on d.classid = 'pg_constraint'::regclass and d.objid = c.oid
  left join pg_operator o on d.refclassid = 'pg_operator'::regclass and o.oid = d.refobjid
  join pg_proc p on p.oid = case when d.refclassid = 'pg_proc'::regclass then d.refobjid else o.oprcode end
  join pg_roles r on r.oid = p.proowner
 where c.conrelid = to_regclass('pg_temp.' || quote_ident($1::text))
   and c.conname = $2::text
   and d.refclassid in ('pg_proc'::regclass, 'pg_operator'::regclass)
   and not r.rolsuper
   and r.rolname <> current_user
 order by 1
