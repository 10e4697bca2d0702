-- The columns of an ordinary or partitioned table, in order, with their place in
-- the primary key (null when not part of it), how the column travels in JSON
-- (wire: json and jsonb as the text of the value, arrays as their text so that
-- their bounds survive, null: as JSON), and the types inside the column's type that
-- repsync cannot replicate: reg* types (OIDs that differ from node to node) and
-- json or jsonb inside a domain, array, composite or range (a JSON null, the
-- whitespace around a value or \u0000 would not survive the JSON the rows travel in),
-- and the definitions of the enums, composites and domains it uses, which must be
-- the same on every node.
select a.attname::text as name,
       format_type(a.atttypid, a.atttypmod) as type,
       array_position(i.indkey::int2[], a.attnum) as key_position,
       a.attgenerated <> '' as generated,
       case when a.atttypid = 'json'::regtype then 'json'
            when a.atttypid = 'jsonb'::regtype then 'jsonb'
            when (select t.typcategory = 'A' from pg_type as t where t.oid = a.atttypid) then 'text'
       end as wire,
       x.unsupported,
       x.shape,
       x.has_float,
       x.has_interval,
       x.has_datetime
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join pg_index i on i.indrelid = c.oid and i.indisprimary
  cross join lateral (
        with recursive part(oid, depth) as (
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
        select array_agg(distinct format_type(p.oid, null) order by format_type(p.oid, null))
                 filter (where p.oid in ('regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                                         'regoperator'::regtype, 'regclass'::regtype, 'regcollation'::regtype,
                                         'regtype'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                                         'regnamespace'::regtype, 'regrole'::regtype)
                            or (p.depth > 0 and p.oid in ('json'::regtype, 'jsonb'::regtype))) as unsupported,
               string_agg(distinct d.shape, '; ' order by d.shape) as shape,
               -- Whose text depends on the session: extra_float_digits, IntervalStyle, DateStyle.
               coalesce(bool_or(p.oid in ('float4'::regtype, 'float8'::regtype)), false) as has_float,
               coalesce(bool_or(p.oid = 'interval'::regtype), false) as has_interval,
               coalesce(bool_or(p.oid in ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)), false) as has_datetime
          from part as p
          left join lateral (
                select format_type(p.oid, null) || ' as enum (' || string_agg(quote_literal(e.enumlabel), ', ' order by e.enumsortorder) || ')'
                  from pg_enum as e where e.enumtypid = p.oid
                having count(*) > 0
                union all
                select format_type(p.oid, null) || ' as (' || string_agg(quote_ident(f.attname) || ' ' || format_type(f.atttypid, f.atttypmod), ', ' order by f.attnum) || ')'
                  from pg_type as t
                  join pg_attribute as f on f.attrelid = t.typrelid and f.attnum > 0 and not f.attisdropped
                 where t.oid = p.oid and t.typtype = 'c'
                having count(*) > 0
                union all
                select format_type(p.oid, null) || ' ' || string_agg(pg_get_constraintdef(k.oid), ' ' order by k.conname)
                  from pg_constraint as k where k.contypid = p.oid
                having count(*) > 0) as d(shape) on true) as x
 where n.nspname = $1
   and c.relname = $2
   and c.relkind in ('r', 'p')
 order by a.attnum
