{#- The hashes verify and repair compare: one definition, because a row's bucket must be
    the same in every query of a run. typed: by the columns' own hash functions;
    otherwise by the row's text (for types without one). -#}
{%- macro row_hash(q, cols, prefix) -%}
{% if q.typed %}hash_record_extended(row({% for c in cols %}{% if !loop.first %}, {% endif %}{{ prefix }}{{ c }}{% endfor %}), 0){% else %}hashtextextended(row({% for c in cols %}{% if !loop.first %}, {% endif %}{{ prefix }}{{ c }}{% endfor %})::text, 0){% endif %}
{%- endmacro -%}
{%- macro bucket(q, prefix) -%}
({% call row_hash(q, q.key, prefix) %}{% endcall %} & {{ q.mask }})::int
{%- endmacro -%}
