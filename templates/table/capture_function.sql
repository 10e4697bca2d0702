-- Captures each statement on the replicated table: sync mode into repsync.pending, async mode into the queue.{# No name in SQL comments: a newline in a quoted name would end the comment. #}
{%- macro key_select(rel) -%}
select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from {{ rel }}{% if let Some(f) = filter %} where {{ f }}{% endif %}
{%- endmacro -%}
{%- macro queue_keys(rel, rel2) %}
        insert into repsync.sync_err_rec (dest, set_name, op, old_rows, origin_xid)
        select d.dest, {{ set_name }}, 'K', k.keys, pg_current_xact_id()
          from (select json_agg(r) as keys from ({% call key_select(rel) %}{% endcall %}{% if !rel2.is_empty() %} union {% call key_select(rel2) %}{% endcall %}{% endif %}) r) k,
               unnest(array[{% for d in dests %}{% if !loop.first %}, {% endif %}{{ d }}{% endfor %}]::text[]) as d(dest)
         where k.keys is not null;
{%- endmacro %}
create or replace function repsync.{{ function }}()
returns trigger language plpgsql security definer
set search_path = pg_catalog, pg_temp
as {{ tag }}
#variable_conflict use_column
{%- if async_mode %}
declare
    v_queued integer;
{%- endif %}
begin
    -- Sessions that apply a peer's changes carry the origin marker: never send back.
    if coalesce(current_setting('repsync.origin', true), '') <> '' then
        return null;
    end if;
{%- if async_mode %}
    -- Async: only the keys, once per destination, in this transaction and in one
    -- statement (this runs for every statement on the table); the rows are read
    -- when the entry is shipped.
    if TG_OP = 'INSERT' then
        {%- call queue_keys("new_rows", "") %}{% endcall %}
    elsif TG_OP = 'UPDATE' then
        {%- call queue_keys("old_rows", "new_rows") %}{% endcall %}
    elsif TG_OP = 'DELETE' then
        {%- call queue_keys("old_rows", "") %}{% endcall %}
    else
        insert into repsync.sync_err_rec (dest, set_name, op, origin_xid)
        select d.dest, {{ set_name }}, 'T', pg_current_xact_id()
          from unnest(array[{% for d in dests %}{% if !loop.first %}, {% endif %}{{ d }}{% endfor %}]::text[]) as d(dest);
    end if;
    get diagnostics v_queued = row_count;
    if v_queued = 0 then
        return null;
    end if;
    -- A NOTIFY serialises committing transactions, so only a shipper that waits
    -- for one is woken: it holds this advisory lock while it waits. A writer that
    -- gets the shared lock keeps the shipper from starting to wait until it commits.
    if not pg_try_advisory_xact_lock_shared({{ idle_lock[0] }}, {{ idle_lock[1] }}) then
        perform pg_notify('repsync', '');
    end if;
{%- else %}
    if TG_OP = 'INSERT' then
        insert into repsync.pending (set_name, op, new_rows)
        select {{ set_name }}, 'I', json_agg(r)
          from (select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                  from new_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r
        having count(*) > 0;
    elsif TG_OP = 'UPDATE' then
        insert into repsync.pending (set_name, op, old_rows, new_rows)
        select {{ set_name }}, 'U', o.rows, n.rows
          from (select json_agg(r) as rows
                  from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                          from old_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r) o,
               (select json_agg(r) as rows
                  from (select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                          from new_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r) n
         where o.rows is not null or n.rows is not null;
    elsif TG_OP = 'DELETE' then
        insert into repsync.pending (set_name, op, old_rows)
        select {{ set_name }}, 'D', json_agg(r)
          from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                  from old_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r
        having count(*) > 0;
    elsif TG_OP = 'TRUNCATE' then
        insert into repsync.pending (set_name, op) values ({{ set_name }}, 'T');
    end if;
{%- endif %}
    return null;
end
{{ tag }};
revoke all on function repsync.{{ function }}() from public;
