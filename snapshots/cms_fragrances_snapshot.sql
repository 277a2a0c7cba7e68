{% snapshot cms_fragrances_snapshot %}
{{
    config(
      target_schema=target.schema ~ '_snapshots',
      unique_key='sku',
      strategy='check',
      check_cols=['name', 'brand', 'concentration', 'size_ml', 'price', 'status'],
    )
}}
-- The change history of the CMS side: each edit of a product's fields becomes a new version.
select sku, name, brand, concentration, size_ml, price, status from {{ ref('stg_cms_fragrances') }}
{% endsnapshot %}
