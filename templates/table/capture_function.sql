{%- import "wire.sql" as wire -%}
-- Captures each statement on the replicated table: sync mode into repsync.pending, async mode into the queue.{# No name in SQL comments: a newline in a quoted name would end the comment. #}
{%- macro key_select(rel) -%}
select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from {{ rel }}{% if let Some(f) = filter %} where {{ f }}{% endif %}
{%- endmacro -%}
{%- macro key_json_select(rel) -%}
select {% call wire::enc("", key, json) %}{% endcall %} from {{ rel }}{% if let Some(f) = filter %} where {{ f }}{% endif %}
{%- endmacro -%}
{%- macro queue_keys(rel, rel2) %}
{%- if async_mode %}
        insert into repsync.sync_err_rec (dest, set_name, op, old_rows, origin_xid)
        select {% if dests.len() == 1 %}{{ dests[0] }}{% else %}d.dest{% endif %}, {{ set_name }}, 'K', k.keys, pg_catalog.pg_current_xact_id()
{%- else %}
        insert into repsync.pending (set_name, op, old_rows)
        select {{ set_name }}, 'K', k.keys
{%- endif %}
          from (select pg_catalog.json_agg(r.*) as keys from ({% call key_json_select(rel) %}{% endcall %}{% if !rel2.is_empty() %} union all {% call key_json_select(rel2) %}{% endcall %}{% endif %}) r) k{% if async_mode && dests.len() != 1 %},
               pg_catalog.unnest(array[{% for d in dests %}{% if !loop.first %}, {% endif %}{{ d }}{% endfor %}]::pg_catalog.text[]) as d(dest){% endif %}
{%- if filter.is_some() %}
         where k.keys is not null
{%- endif %};
{%- endmacro %}
{%- macro changed(rel) %}
        perform from {{ rel }} limit 1;
        if not found then
            return null;
        end if;
{%- endmacro %}
{%- macro key_list(prefix) -%}
{% for c in key %}{% if !loop.first %}, {% endif %}{{ prefix }}{{ c }}{% endfor %}
{%- endmacro -%}
{%- macro record_versions(present, gone) %}
        -- This node's change is the newest version of each key: later than any
        -- version this node knew (the nodes' clocks differ), and based on the last
        -- version that came from another node.
        insert into repsync.{{ versions }} as v ({% call key_list("") %}{% endcall %}, repsync_at, repsync_origin, repsync_deleted, repsync_rank)
        select {% call key_list("k.") %}{% endcall %}, clock_timestamp(), {{ local_node }}, k.repsync_deleted, {{ local_rank }}
          from ({% if !present.is_empty() %}select {% call key_list("") %}{% endcall %}, false as repsync_deleted from {{ present }}{% if let Some(f) = filter %} where {{ f }}{% endif %}{% endif %}
                {%- if !present.is_empty() && !gone.is_empty() %}
                union all
                {% endif %}
                {%- if !gone.is_empty() %}select {% call key_list("g.") %}{% endcall %}, true as repsync_deleted from ({% call key_select(gone) %}{% endcall %}{% if !present.is_empty() %} except {% call key_select(present) %}{% endcall %}{% endif %}) as g{% endif %}) as k
            on conflict ({% call key_list("") %}{% endcall %}) do update
           set repsync_base_at = case when v.repsync_origin = excluded.repsync_origin then v.repsync_base_at else v.repsync_at end,
               repsync_base_origin = case when v.repsync_origin = excluded.repsync_origin then v.repsync_base_origin else v.repsync_origin end,
               repsync_at = greatest(excluded.repsync_at, v.repsync_at + interval '1 microsecond'),
               repsync_origin = excluded.repsync_origin,
               repsync_deleted = excluded.repsync_deleted,
               repsync_rank = least(excluded.repsync_rank, v.repsync_rank);
{%- endmacro %}
{#- The async capture of a table without a row filter runs for every statement on
    the table, and setting search_path on each call cost 5% of a single-row
    insert/update/delete mix (bench/capture_cost.sh). It does without: every
    function, operator and type in it is schema-qualified, relations are
    repsync's or the statement's transition tables, so a writer's search_path
    cannot redirect anything it runs as its owner (tests/hostile_input.rs). #}
{%- let bare = async_mode && !versioned && filter.is_none() && !partitioned %}
create or replace function repsync.{{ function }}()
returns trigger language plpgsql security definer
{%- if !bare %}
set search_path = pg_catalog, pg_temp
{%- endif %}{% call wire::settings(settings) %}{% endcall %}
as {{ tag }}
#variable_conflict use_column
{%- if async_mode && filter.is_some() %}
declare
    v_queued integer;
{%- endif %}
begin
    -- Sessions that apply a peer's changes carry the origin marker: never send back.
    -- (Unset, the setting is null, and so is the comparison.)
    if pg_catalog.current_setting('repsync.origin', true) operator(pg_catalog.<>) '' then
        return null;
    end if;
{%- if partitioned %}
    -- The partitioned table's statements fire its own triggers, a partition's
    -- statements (naming the partition) the partition's, which pass an argument.
    if TG_NARGS > 0 then
        -- Detached since add-table: no longer part of the replicated table.
        if pg_catalog.pg_partition_root(TG_RELID) is distinct from {{ table_literal }}::pg_catalog.regclass then
            return null;
        end if;
        -- Partitions need not match from node to node, so truncating one cannot be
        -- sent as a truncate; truncating the partitioned table truncates them too.
        if TG_OP = 'TRUNCATE' then
            if pg_catalog.current_setting('repsync.truncating', true) is distinct from {{ set_name }} then
                raise exception 'repsync: % is a partition of the replicated table %; truncating it alone would not be replicated',
                    pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), {{ table_literal }}
                    using hint = 'delete its rows instead (they are replicated as deletes), or truncate the partitioned table';
            end if;
            return null;
        end if;
    elsif TG_WHEN = 'BEFORE' then
        -- Before a truncate of the partitioned table, which truncates its partitions.
        perform pg_catalog.set_config('repsync.truncating', {{ set_name }}, true);
        return null;
    end if;
{%- endif %}
{%- if async_mode || versioned %}
    -- Only the keys, in one statement (this runs for every statement on the table):
    -- the rows are read when the change is shipped, as they are then. Async mode
    -- queues them once per destination; sync mode keeps them for the commit.
    -- A statement that changed no row (an update or delete that matched nothing, an
    -- insert whose rows all hit "on conflict do nothing") stops at the cheaper
    -- check first: it is half of some workloads. One chain of TG_OP tests, most
    -- frequent first: each test is an expression set up anew in every transaction.
    if TG_OP operator(pg_catalog.=) 'UPDATE' then
        {%- call changed("old_rows") %}{% endcall %}
        {%- if versioned %}{% call record_versions("new_rows", "old_rows") %}{% endcall %}{% endif %}
        {%- call queue_keys("old_rows", "new_rows") %}{% endcall %}
    elsif TG_OP operator(pg_catalog.=) 'DELETE' then
        {%- call changed("old_rows") %}{% endcall %}
        {%- if versioned %}{% call record_versions("", "old_rows") %}{% endcall %}{% endif %}
        {%- call queue_keys("old_rows", "") %}{% endcall %}
    elsif TG_OP operator(pg_catalog.=) 'INSERT' then
        {%- call changed("new_rows") %}{% endcall %}
        {%- if versioned %}{% call record_versions("new_rows", "") %}{% endcall %}{% endif %}
        {%- call queue_keys("new_rows", "") %}{% endcall %}
    else
{%- if partitioned %}
        perform pg_catalog.set_config('repsync.truncating', '', true);
{%- endif %}
{%- if versioned %}
        -- Which of the other nodes' concurrent changes a truncate overtakes cannot be
        -- told, so the nodes could not agree on what remains: refused.
        raise exception 'repsync: % is written on several nodes; TRUNCATE on it is not replicated', {{ table_literal }}
            using hint = 'delete its rows instead (a delete is versioned like any change), or remove the table from replication first';
{%- else if async_mode %}
        insert into repsync.sync_err_rec (dest, set_name, op, origin_xid)
{%- if dests.len() == 1 %}
        values ({{ dests[0] }}, {{ set_name }}, 'T', pg_catalog.pg_current_xact_id());
{%- else %}
        select d.dest, {{ set_name }}, 'T', pg_catalog.pg_current_xact_id()
          from pg_catalog.unnest(array[{% for d in dests %}{% if !loop.first %}, {% endif %}{{ d }}{% endfor %}]::pg_catalog.text[]) as d(dest);
{%- endif %}
{%- else %}
        insert into repsync.pending (set_name, op) values ({{ set_name }}, 'T');
{%- endif %}
    end if;
{%- endif %}
{%- if async_mode %}
{%- if filter.is_some() %}
    -- The filter may have kept none of the rows.
    get diagnostics v_queued = row_count;
    if v_queued operator(pg_catalog.=) 0 then
        return null;
    end if;
{%- endif %}
    -- A NOTIFY serialises committing transactions, so only a shipper that waits
    -- for one is woken: it holds this advisory lock while it waits. A writer that
    -- gets the shared lock keeps the shipper from starting to wait until it commits.
    if not pg_catalog.pg_try_advisory_xact_lock_shared({{ idle_lock[0] }}, {{ idle_lock[1] }}) then
        perform pg_catalog.pg_notify('repsync', '');
    end if;
{%- else if !versioned %}
    if TG_OP = 'INSERT' then
        {%- call changed("new_rows") %}{% endcall %}
        insert into repsync.pending (set_name, op, new_rows)
        select {{ set_name }}, 'I', json_agg(r.*)
          from (select {% call wire::enc("", columns, json) %}{% endcall %}
                  from new_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r
        having count(*) > 0;
    elsif TG_OP = 'UPDATE' then
        {%- call changed("old_rows") %}{% endcall %}
        insert into repsync.pending (set_name, op, old_rows, new_rows)
        select {{ set_name }}, 'U', o.rows, n.rows
          from (select json_agg(r.*) as rows
                  from (select {% call wire::enc("", key, json) %}{% endcall %}
                          from old_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r) o,
               (select json_agg(r.*) as rows
                  from (select {% call wire::enc("", columns, json) %}{% endcall %}
                          from new_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r) n
         where o.rows is not null or n.rows is not null;
    elsif TG_OP = 'DELETE' then
        {%- call changed("old_rows") %}{% endcall %}
        insert into repsync.pending (set_name, op, old_rows)
        select {{ set_name }}, 'D', json_agg(r.*)
          from (select {% call wire::enc("", key, json) %}{% endcall %}
                  from old_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r
        having count(*) > 0;
    elsif TG_OP = 'TRUNCATE' then
{%- if partitioned %}
        perform pg_catalog.set_config('repsync.truncating', '', true);
{%- endif %}
        insert into repsync.pending (set_name, op) values ({{ set_name }}, 'T');
    end if;
{%- endif %}
    return null;
end
{{ tag }};
revoke all on function repsync.{{ function }}() from public;
