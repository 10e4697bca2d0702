-- The columns of an ordinary or partitioned table, in order, with their place in
-- the primary key (null when not part of it).
select a.attname::text as name,
       format_type(a.atttypid, a.atttypmod) as type,
       array_position(i.indkey::int2[], a.attnum) as key_position,
       a.attgenerated <> '' as generated
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join pg_index i on i.indrelid = c.oid and i.indisprimary
 where n.nspname = $1
   and c.relname = $2
   and c.relkind in ('r', 'p')
 order by a.attnum
