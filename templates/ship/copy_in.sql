copy {{ stage }} ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}) from stdin
