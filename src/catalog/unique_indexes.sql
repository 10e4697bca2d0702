-- The unique indexes of a table without a primary key that could become it, by name:
-- valid, btree, on plain columns (no expression, no predicate), in the default sort
-- order, checked immediately. constraint: the unique constraint that owns the index
-- (then it is promoted by replacing the constraint, not with "using index").
select ic.relname::text as index,
       k.conname::text as constraint,
       array_agg(a.attname::text order by cols.ord) as columns
  from pg_index as i
  join pg_class as c on c.oid = i.indrelid
  join pg_namespace as n on n.oid = c.relnamespace
  join pg_class as ic on ic.oid = i.indexrelid
  join pg_am as am on am.oid = ic.relam
  left join pg_constraint as k on k.conindid = i.indexrelid and k.conrelid = c.oid and k.contype = 'u'
  cross join lateral unnest(i.indkey::int2[]) with ordinality as cols(attnum, ord)
  join pg_attribute as a on a.attrelid = c.oid and a.attnum = cols.attnum
 where n.nspname = $1
   and c.relname = $2
   and c.relkind = 'r'
   and i.indisunique and i.indisvalid and i.indimmediate
   and i.indpred is null and i.indexprs is null
   and am.amname = 'btree'
   and cols.ord <= i.indnkeyatts
   and 0 = all (i.indoption::int2[])
 group by ic.relname, k.conname
 order by ic.relname
