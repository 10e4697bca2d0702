-- How a table holds its rows: partitioned (they live in its partitions, listed here at
-- every level below it), or a partition itself (of the partition tree's root), and
-- whether row-level security applies to it.
select c.relkind = 'p' as partitioned,
       rn.nspname::text as root_schema,
       rc.relname::text as root_name,
       coalesce(p.schemas, '{}') as partition_schemas,
       coalesce(p.names, '{}') as partition_names,
       c.relrowsecurity as row_security,
       c.relforcerowsecurity as force_row_security
  from pg_class as c
  join pg_namespace as n on n.oid = c.relnamespace
  left join pg_class as rc on c.relispartition and rc.oid = pg_partition_root(c.oid)
  left join pg_namespace as rn on rn.oid = rc.relnamespace
  cross join lateral (
        select array_agg(tn.nspname::text order by t.level, tn.nspname, tc.relname) as schemas,
               array_agg(tc.relname::text order by t.level, tn.nspname, tc.relname) as names
          from pg_partition_tree(c.oid) as t
          join pg_class as tc on tc.oid = t.relid
          join pg_namespace as tn on tn.oid = tc.relnamespace
         where t.relid <> c.oid) as p
 where n.nspname = $1
   and c.relname = $2
   and c.relkind in ('r', 'p')
