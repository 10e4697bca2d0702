-- Records the install of {{ set_name }} on this node, with a fingerprint of each object.
insert into repsync.replicated_table
    (set_name, local_schema, local_table, source, is_sender, is_receiver, mode, on_error, options)
values ({{ set_name }}, {{ local_schema }}, {{ local_table }}, {{ source }}, {{ is_sender }}, {{ is_receiver }},
        {{ mode }}, {{ on_error }}, {{ options }}::jsonb);
{%- for dest in dests %}
insert into repsync.route (set_name, dest) values ({{ set_name }}, {{ dest }});
{%- endfor %}
update repsync.replicated_table
   set objects = (select coalesce(jsonb_object_agg(object, fingerprint), '{}')
                    from repsync.installed_objects({{ set_name }}))
 where set_name = {{ set_name }};
