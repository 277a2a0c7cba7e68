{{ config(materialized='ephemeral') }}
-- Both clients in one naming scheme, each row tagged with why it is invalid (if it is).
with unioned as (
    select * from {{ ref('stg_client_a_members') }}
    union all
    select * from {{ ref('stg_client_b_registrations') }}
)

select
    unioned.*,
    case
        when state is null or not {{ data_quality.is_valid_state('state') }} then 'invalid state code'
        when zip is null or not {{ data_quality.is_valid_zip('zip') }} then 'malformed zip code'
        when date_of_birth is null or not {{ data_quality.is_valid_iso_date('date_of_birth') }} then 'impossible date of birth'
    end as reject_reason
from unioned
