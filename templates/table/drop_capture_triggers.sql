-- Drops the triggers that call the capture function of {{ set_name }}{% if keep_tree.is_some() %}, except on the table and its partitions{% endif %}:
-- also those on tables detached from a partitioned table since add-table.{# No name in SQL comments: a newline in a quoted name would end the comment. #}
do {{ tag }}
declare
    v_trigger record;
begin
    for v_trigger in
        select tg.tgname, n.nspname, c.relname
          from pg_catalog.pg_trigger as tg
          join pg_catalog.pg_proc as p on p.oid = tg.tgfoid
          join pg_catalog.pg_class as c on c.oid = tg.tgrelid
          join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
         where p.pronamespace = 'repsync'::pg_catalog.regnamespace
           and p.proname = {{ function }}
{%- if let Some(table) = keep_tree %}
           and tg.tgrelid operator(pg_catalog.<>) {{ table }}::pg_catalog.regclass
           and tg.tgrelid not in (select pt.relid from pg_catalog.pg_partition_tree({{ table }}::pg_catalog.regclass) as pt)
{%- endif %}
    loop
        execute pg_catalog.format('drop trigger %I on %I.%I', v_trigger.tgname, v_trigger.nspname, v_trigger.relname);
    end loop;
end
{{ tag }};
