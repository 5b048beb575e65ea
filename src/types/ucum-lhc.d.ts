/** The part of @lhncbc/ucum-lhc (NLM's UCUM library, no bundled types) the search index uses. */
declare module '@lhncbc/ucum-lhc' {
  export interface BaseUnits {
    status: 'succeeded' | 'invalid' | 'failed' | 'error';
    magnitude?: number;
    /** base unit (g, m, s, K, rad, C, cd) → exponent; empty for dimensionless */
    unitToExp?: Record<string, number>;
    /** a unit converted with an offset or a function (Cel, [degF]) */
    fromUnitIsSpecial?: boolean;
    msg?: string[];
  }
  export const UcumLhcUtils: {
    getInstance(): {
      convertToBaseUnits(unit: string, value: number): BaseUnits;
      /** the parsed unit; moleExp_ / equivalentExp_: its exponent of mol / eq (which base units read as Avogadro's number) */
      getSpecifiedUnit(unit: string, action: 'validate'): { status: string; unit?: { moleExp_?: number; equivalentExp_?: number } };
    };
  };
}
