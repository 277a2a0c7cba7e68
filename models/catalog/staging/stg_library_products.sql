-- The product library export with its double-exported rows removed and its volumes ("50ml",
-- "50 ML") read as millilitres.
select distinct
    upper(trim(product_code)) as sku,
    trim(product_name) as name,
    trim(house) as brand,
    upper(trim(strength)) as concentration,
    cast(trim(replace(lower(volume), 'ml', '')) as {{ dbt.type_int() }}) as size_ml,
    cast(list_price as decimal(10, 2)) as price,
    case when discontinued = 'Y' then 1 else 0 end as is_discontinued,
    modified_at as updated_at
from {{ source('catalog_raw', 'library_products') }}
