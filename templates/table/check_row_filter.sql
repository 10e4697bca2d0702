select 1 from only {{ table }} where {{ filter }} limit 0
