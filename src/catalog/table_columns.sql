-- The columns of an ordinary or partitioned table, in order, with their place in
-- the primary key (null when not part of it), whether the column is json or jsonb
-- (shipped as the text of the value), and the types inside the column's type that
-- repsync cannot replicate: reg* types (OIDs that differ from node to node) and
-- json or jsonb inside a domain, array, composite or range (a JSON null, the
-- whitespace around a value or \u0000 would not survive the JSON the rows travel in).
select a.attname::text as name,
       format_type(a.atttypid, a.atttypmod) as type,
       array_position(i.indkey::int2[], a.attnum) as key_position,
       a.attgenerated <> '' as generated,
       case a.atttypid when 'json'::regtype then 'json' when 'jsonb'::regtype then 'jsonb' end as json_kind,
       (with recursive part(oid, depth) as (
            select a.atttypid, 0
            union
            select n.oid, p.depth + 1
              from part as p
              cross join lateral (
                    select t.typbasetype from pg_type as t where t.oid = p.oid and t.typtype = 'd'
                    union all
                    select t.typelem from pg_type as t
                     where t.oid = p.oid and t.typsubscript = 'array_subscript_handler'::regproc
                    union all
                    select f.atttypid from pg_type as t
                      join pg_attribute as f on f.attrelid = t.typrelid and f.attnum > 0 and not f.attisdropped
                     where t.oid = p.oid and t.typtype = 'c'
                    union all
                    select r.rngsubtype from pg_range as r where r.rngtypid = p.oid
                    union all
                    select r.rngtypid from pg_range as r where r.rngmultitypid = p.oid) as n(oid)
             where p.depth < 32)
        select array_agg(distinct format_type(part.oid, null) order by format_type(part.oid, null))
          from part
         where part.oid in ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                            'regoperator'::regtype, 'regclass'::regtype, 'regcollation'::regtype,
                            'regtype'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                            'regnamespace'::regtype, 'regrole'::regtype)
            or (part.depth > 0 and part.oid in ('json'::regtype, 'jsonb'::regtype))) as unsupported
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join pg_index i on i.indrelid = c.oid and i.indisprimary
 where n.nspname = $1
   and c.relname = $2
   and c.relkind in ('r', 'p')
 order by a.attnum
