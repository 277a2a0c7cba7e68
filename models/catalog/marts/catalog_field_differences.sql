-- One row per SKU and field the two systems disagree on, with both values, for the sync review.
{% set fields = ['name', 'brand', 'concentration', 'size_ml', 'price'] %}
with cms as (
    select * from {{ ref('stg_cms_fragrances') }}
),

library as (
    select * from {{ ref('stg_library_products') }}
)

{% for field in fields %}
select
    cms.sku,
    '{{ field }}' as field,
    cast(cms.{{ field }} as {{ dbt.type_string() }}) as cms_value,
    cast(library.{{ field }} as {{ dbt.type_string() }}) as library_value
from cms
join library on library.sku = cms.sku
where {% if field == 'price' %}abs(cms.price - library.price) >= 0.01{% else %}cms.{{ field }} <> library.{{ field }}{% endif %}
{% if not loop.last %}union all{% endif %}
{% endfor %}
