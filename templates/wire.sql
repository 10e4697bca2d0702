{#- How rows and keys travel as JSON. json, jsonb and array columns go as strings
    of their text (see catalog::WireFormat): enc writes them so, dec reads them
    back (json_populate_recordset itself parses an array from its text). For
    tables without such columns both are what they were before: the columns, and
    json_populate_recordset. -#}
{%- macro enc(p, cols, w) -%}
{% for c in cols %}{% if !loop.first %}, {% endif %}{% if w.as_text(c) %}{{ p }}{{ c }}::pg_catalog.text as {{ c }}{% else %}{{ p }}{{ c }}{% endif %}{% endfor %}
{%- endmacro -%}
{%- macro dec(table, src, cols, w, alias) -%}
{% if w.any_of(cols) -%}
(select {% for c in cols %}{% if !loop.first %}, {% endif %}{% if w.is_json(c) %}(j.{{ c }} #>> '{}')::json as {{ c }}{% else if w.is_jsonb(c) %}(j.{{ c }} #>> '{}')::jsonb as {{ c }}{% else %}j.{{ c }}{% endif %}{% endfor %}
   from json_populate_recordset(null::{{ table }}, {{ src }}) as j) as {% if alias.is_empty() %}j{% else %}{{ alias }}{% endif %}
{%- else -%}
json_populate_recordset(null::{{ table }}, {{ src }}){% if !alias.is_empty() %} as {{ alias }}{% endif %}
{%- endif %}
{%- endmacro -%}
{#- Set on every generated function that writes or reads rows as text, when the
    replicated columns hold such values: they are printed and parsed the same way
    whatever the session's settings (a writer's extra_float_digits = 0 dropped
    float digits, an interval printed in sql_standard style reads back with another
    sign, a range or array of timestamps follows DateStyle). bytea_output needs no
    fixing: both formats read back. -#}
{%- macro settings(w) -%}
{% if w.datetime %}
set datestyle = '{{ crate::formats::DATESTYLE }}'
{%- endif %}
{%- if w.interval %}
set intervalstyle = '{{ crate::formats::INTERVALSTYLE }}'
{%- endif %}
{%- if w.float %}
set extra_float_digits = {{ crate::formats::EXTRA_FLOAT_DIGITS }}
{%- endif %}
{%- endmacro -%}
