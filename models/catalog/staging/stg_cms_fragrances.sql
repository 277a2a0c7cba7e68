-- The CMS export in the library's terms: SKUs trimmed and upper-cased, concentrations as codes,
-- prices as editors type them ($61.32, 72,09) read as numbers, and of an entry exported more
-- than once only its latest edit.
with entries as (
    select
        upper(trim(sku)) as sku,
        trim(title) as name,
        trim(brand) as brand,
        case
            when lower(trim(concentration)) in ('eau de toilette', 'edt') then 'EDT'
            when lower(trim(concentration)) in ('eau de parfum', 'edp') then 'EDP'
            when lower(trim(concentration)) in ('parfum', 'extrait') then 'PARFUM'
        end as concentration,
        size_ml,
        cast(replace(replace(price, '$', ''), ',', '.') as decimal(10, 2)) as price,
        status,
        replace(replace(updated_at, 'T', ' '), 'Z', '') as edited_at,
        row_number() over (partition by upper(trim(sku)) order by updated_at desc) as version
    from {{ source('catalog_raw', 'cms_fragrances') }}
)

select sku, name, brand, concentration, size_ml, price, status, edited_at as updated_at
from entries
where version = 1
