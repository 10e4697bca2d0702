-- Per bucket of keys: how many rows, and the sum of a hash of each row's text.
select (hashtextextended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text, 0) & {{ mask }})::int as bucket,
       count(*) as rows,
       sum(hashtextextended(row({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text, 0))::text as hash
  from only {{ table }}
{%- if let Some(f) = filter %}
 where {{ f }}
{%- endif %}
 group by 1
