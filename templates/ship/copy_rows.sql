{%- import "wire.sql" as wire -%}
-- The rows, as they are now, of the keys that the queue entries {{ ids }} for {{ dest }} hold.
copy (select {% for c in columns %}{% if !loop.first %}, {% endif %}x.{{ c }}{% endfor %}
        from (select t.*
                from {% if !partitioned %}only {% endif %}{{ table }} as t
               where ({% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}) in
                     (select {% for c in key %}{% if !loop.first %}, {% endif %}k.{{ c }}{% endfor %}
                        from repsync.sync_err_rec e, {% if json.any_of(key) %}lateral {% endif %}{% call wire::dec(table, "e.old_rows", key, json, "k") %}{% endcall %}
                       where e.dest = {{ dest }} and e.id = any ({{ ids }}::bigint[]))) as x
{%- if let Some(f) = filter %}
       where {{ f }}
{%- endif %}
     ) to stdout
