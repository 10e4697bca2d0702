-- Captures each statement on the replicated table: sync mode into repsync.pending, async mode into the queue.{# No name in SQL comments: a newline in a quoted name would end the comment. #}
create or replace function repsync.{{ function }}()
returns trigger language plpgsql security definer
set search_path = pg_catalog, pg_temp
as {{ tag }}
#variable_conflict use_column
{%- if async_mode %}
declare
    v_keys json;
    v_wake boolean;
{%- endif %}
begin
    -- Sessions that apply a peer's changes carry the origin marker: never send back.
    if coalesce(current_setting('repsync.origin', true), '') <> '' then
        return null;
    end if;
{%- if async_mode %}
    -- Async: only the keys, once per destination, in this transaction; the rows
    -- are read when the entry is shipped.
    if TG_OP = 'INSERT' then
        select json_agg(r) into v_keys
          from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from new_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r;
    elsif TG_OP = 'UPDATE' then
        select json_agg(r) into v_keys
          from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from old_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}
                union
                select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from new_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r;
    elsif TG_OP = 'DELETE' then
        select json_agg(r) into v_keys
          from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from old_rows{% if let Some(f) = filter %} where {{ f }}{% endif %}) r;
    end if;
    if TG_OP <> 'TRUNCATE' and v_keys is null then
        return null;
    end if;
    -- A NOTIFY serialises committing transactions, so the shipper is woken only
    -- when a queue was empty; while there is a backlog it is busy anyway. Each
    -- probe is the first entry by the (dest, id) index.
    v_wake := {% for d in dests %}{% if !loop.first %}
        or {% endif %}(select e.id from repsync.sync_err_rec e where e.dest = {{ d }} order by e.dest, e.id limit 1) is null{% endfor %};
    insert into repsync.sync_err_rec (dest, set_name, op, old_rows, origin_xid)
    select d.dest, {{ set_name }}, case when TG_OP = 'TRUNCATE' then 'T' else 'K' end, v_keys, pg_current_xact_id()
      from unnest(array[{% for d in dests %}{% if !loop.first %}, {% endif %}{{ d }}{% endfor %}]::text[]) as d(dest);
    if v_wake then
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
