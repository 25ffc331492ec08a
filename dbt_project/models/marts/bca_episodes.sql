-- Paper Table 2 "B-cell aplasia (BCA) follow-up": the episodes of int__bca_episodes, as analysts
-- read them (the intermediate model is what int__bca_endpoint builds the BCA time-to-event rows on).
-- Its columns and their types are fixed by the model contract (_cytometry__models.yml), not here.
select * from {{ ref('int__bca_episodes') }}  -- noqa: AM04
