-- Every SKU of either system: on which side it is, which fields differ, and which way to sync it
-- (the side edited last wins; drafts and discontinued products are not copied).
with cms as (
    select * from {{ ref('stg_cms_fragrances') }}
),

library as (
    select * from {{ ref('stg_library_products') }}
),

skus as (
    select sku from cms
    union
    select sku from library
),

compared as (
    select
        skus.sku,
        case when cms.sku is null then 0 else 1 end as in_cms,
        case when library.sku is null then 0 else 1 end as in_library,
        case when cms.name <> library.name then 1 else 0 end as name_differs,
        case when cms.brand <> library.brand then 1 else 0 end as brand_differs,
        case when cms.concentration <> library.concentration then 1 else 0 end as concentration_differs,
        case when cms.size_ml <> library.size_ml then 1 else 0 end as size_differs,
        case when abs(cms.price - library.price) >= 0.01 then 1 else 0 end as price_differs,
        cms.status as cms_status,
        library.is_discontinued,
        cms.updated_at as cms_updated_at,
        library.updated_at as library_updated_at
    from skus
    left join cms on cms.sku = skus.sku
    left join library on library.sku = skus.sku
),

counted as (
    select
        compared.*,
        name_differs + brand_differs + concentration_differs + size_differs + price_differs
            as fields_differing
    from compared
)

select
    sku,
    in_cms,
    in_library,
    case
        when in_library = 0 then 'only_in_cms'
        when in_cms = 0 then 'only_in_library'
        when fields_differing > 0 then 'mismatched'
        else 'matched'
    end as match_status,
    fields_differing,
    name_differs,
    brand_differs,
    concentration_differs,
    size_differs,
    price_differs,
    case
        when in_library = 0 and cms_status = 'published' then 'create_in_library'
        when in_cms = 0 and is_discontinued = 0 then 'create_in_cms'
        when in_cms = 0 or in_library = 0 or fields_differing = 0 then 'none'
        when cms_updated_at > library_updated_at then 'update_library'
        else 'update_cms'
    end as sync_action,
    cms_updated_at,
    library_updated_at
from counted
